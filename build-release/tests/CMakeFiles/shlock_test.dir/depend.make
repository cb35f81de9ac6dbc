# Empty dependencies file for shlock_test.
# This may be replaced when dependencies are built.
