# Empty dependencies file for wait_test.
# This may be replaced when dependencies are built.
