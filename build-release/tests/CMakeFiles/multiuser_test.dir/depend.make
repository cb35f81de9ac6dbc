# Empty dependencies file for multiuser_test.
# This may be replaced when dependencies are built.
