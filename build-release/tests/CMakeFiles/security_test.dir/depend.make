# Empty dependencies file for security_test.
# This may be replaced when dependencies are built.
