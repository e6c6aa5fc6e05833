"""What a run shows: the metrics log (console, TensorBoard, Weights & Biases), the dashboard
telemetry, progress bars and the one console voice, and the end-of-run plots."""
