"""Reports read from the cases the product tracks: the MQSA medical outcomes audit."""
