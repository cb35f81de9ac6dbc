# Empty dependencies file for example_durable_jobs.
# This may be replaced when dependencies are built.
