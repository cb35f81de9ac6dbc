# Empty dependencies file for self_test.
# This may be replaced when dependencies are built.
