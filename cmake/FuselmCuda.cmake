# CUDA backend (issue 5). FUSELM_CUDA=AUTO builds it when nvcc is found; ON requires it; OFF skips it.
# The CUDA sources are not part of this build yet: the option is recorded so the build interface is
# stable, and the backend reports itself unavailable.
if(FUSELM_CUDA STREQUAL "ON")
  message(STATUS "fuselm: FUSELM_CUDA=ON requested, but the CUDA backend has no sources yet")
endif()
