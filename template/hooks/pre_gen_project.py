"""Refuse names that would not make a valid distribution, database or Python string."""

import re
import sys

SERVICE_NAME = "{{ cookiecutter.service_name }}"
SLUG = "{{ cookiecutter.project_slug }}"

if not re.fullmatch(r"[A-Za-z][A-Za-z0-9 _-]*", SERVICE_NAME):
    sys.exit(f"service_name {SERVICE_NAME!r}: use letters, digits, spaces, '-' or '_', starting with a letter")
if not re.fullmatch(r"[a-z][a-z0-9-]*", SLUG):
    sys.exit(f"project_slug {SLUG!r}: use lower-case letters, digits and '-', starting with a letter")
