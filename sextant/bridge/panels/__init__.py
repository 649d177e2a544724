"""The bridge's panels. Each is a function of (painter, model, ...) that draws one part of the frame."""
