# Empty dependencies file for prioq_test.
# This may be replaced when dependencies are built.
