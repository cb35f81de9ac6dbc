# Empty dependencies file for poll_test.
# This may be replaced when dependencies are built.
