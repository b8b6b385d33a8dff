"""A run: config, folder and lock, model assembly, the stage loop with backups and preemption, strategies,
precision, seeding, export and publishing."""
