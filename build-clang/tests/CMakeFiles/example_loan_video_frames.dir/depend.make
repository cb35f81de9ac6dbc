# Empty dependencies file for example_loan_video_frames.
# This may be replaced when dependencies are built.
