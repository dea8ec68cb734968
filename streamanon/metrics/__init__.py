"""Evaluation of anonymized faces (../shared/DESIGN.md section 5): ``streamanon eval``.

judges      independent judges: dlib HOG, dlib 68-point + ResNet descriptor, MediaPipe face mesh
face        re-identification, expression, head pose (pure functions)
regions     face/skin masks and per-pixel normals from the mesh (pure functions)
photometry  SH lighting, CIEDE2000 colour, sharpness, Frechet distance (pure functions)
evaluate    one image pair, face by face          images / video   image sets, videos (+ video metrics)
summary     aggregates and the five 0-1 dimensions report / plots  JSON and HTML
methods     the anonymizers compared (one line each)  benchmark   the comparison table
cli         ``streamanon eval`` (pairs: light input checks before the judges load)
"""
