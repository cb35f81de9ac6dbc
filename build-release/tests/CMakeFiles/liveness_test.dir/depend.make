# Empty dependencies file for liveness_test.
# This may be replaced when dependencies are built.
