"""The directory of outside facilities that hold prior mammograms."""
