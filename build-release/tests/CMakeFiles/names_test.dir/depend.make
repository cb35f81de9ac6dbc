# Empty dependencies file for names_test.
# This may be replaced when dependencies are built.
