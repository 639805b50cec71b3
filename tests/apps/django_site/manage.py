#!/usr/bin/env python3
"""Django's command-line utility for the four-application test
(tests/apps_e2e/test_four_apps.py): migrate, createsuperuser, collectstatic."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_site.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
