file(REMOVE_RECURSE
  "CMakeFiles/example_loan_video_frames.dir/__/examples/loan_video_frames.c.o"
  "CMakeFiles/example_loan_video_frames.dir/__/examples/loan_video_frames.c.o.d"
  "example_loan_video_frames"
  "example_loan_video_frames.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/example_loan_video_frames.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
