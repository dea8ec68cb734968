"""The generated face's photometric stages (``stages.FaceRenderer`` runs them over a ``FacePatch``): the original's
lighting as first-order SH (relight, sh), the albedo model (texture, uv), skin colour (colour), detail (grain),
drawn features (features, beard, hair), per-track smoothing (temporal), key-frame reuse (reuse, warp) and the
Laplacian-pyramid blend (blend)."""
