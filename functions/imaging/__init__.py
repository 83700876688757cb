"""Images and what is made of them: decoding and limits, face detection and chips, signature canvases, templates."""
