"""The bottom layer: the SES client, SES error classes, MIME building and the shared rate limiter. It knows no
subscriber and no campaign; both apps send through it (DESIGN.md section 10)."""
