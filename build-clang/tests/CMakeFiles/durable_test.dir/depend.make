# Empty dependencies file for durable_test.
# This may be replaced when dependencies are built.
