# Empty dependencies file for repair_test.
# This may be replaced when dependencies are built.
