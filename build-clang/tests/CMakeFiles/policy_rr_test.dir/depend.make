# Empty dependencies file for policy_rr_test.
# This may be replaced when dependencies are built.
