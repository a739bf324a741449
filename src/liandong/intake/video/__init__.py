"""Video-analytics events: signed webhooks from camera platforms become cases of the ``video`` channel."""
