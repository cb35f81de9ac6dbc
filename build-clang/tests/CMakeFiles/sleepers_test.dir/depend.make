# Empty dependencies file for sleepers_test.
# This may be replaced when dependencies are built.
