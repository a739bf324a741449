"""Sensors: a device registry, readings over MQTT or HTTP, threshold rules that open one case per incident."""
