# Empty dependencies file for multiprocess_test.
# This may be replaced when dependencies are built.
