# Empty dependencies file for call_test.
# This may be replaced when dependencies are built.
