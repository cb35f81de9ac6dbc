# Empty dependencies file for limits_test.
# This may be replaced when dependencies are built.
