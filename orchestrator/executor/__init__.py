"""Runs a sweep's proxy trials: the `Executor` interface (`base`) and its Ray Tune implementation
(`ray_executor.RayExecutor`). Importing this package does not import Ray: Ray workers import
`orchestrator.executor.trainable`, and the API imports only what it needs."""
