# Empty dependencies file for alloc_test.
# This may be replaced when dependencies are built.
