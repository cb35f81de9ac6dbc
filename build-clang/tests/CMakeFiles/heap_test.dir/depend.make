# Empty dependencies file for heap_test.
# This may be replaced when dependencies are built.
