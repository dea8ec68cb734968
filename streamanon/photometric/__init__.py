"""Photometric stages: blending (relighting and colour matching come with the SfSNet issue)."""
