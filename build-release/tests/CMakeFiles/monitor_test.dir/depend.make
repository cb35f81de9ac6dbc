# Empty dependencies file for monitor_test.
# This may be replaced when dependencies are built.
