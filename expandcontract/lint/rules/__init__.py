"""One module per rule; ``registry`` discovers them."""
