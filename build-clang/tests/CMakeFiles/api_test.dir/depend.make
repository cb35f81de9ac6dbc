# Empty dependencies file for api_test.
# This may be replaced when dependencies are built.
