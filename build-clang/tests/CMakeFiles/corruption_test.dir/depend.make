# Empty dependencies file for corruption_test.
# This may be replaced when dependencies are built.
