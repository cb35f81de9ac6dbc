# Empty dependencies file for bad_input_test.
# This may be replaced when dependencies are built.
