"""Running the platform: backups, health and metrics, logs, replicas, partitioned history."""
