# Empty dependencies file for owner_test.
# This may be replaced when dependencies are built.
