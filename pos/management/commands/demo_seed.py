from __future__ import annotations

from django.core.management.base import BaseCommand

from pos.services.demo import demo_retailer_ensure


class Command(BaseCommand):
    help = "Create (or find) the demo retailer with outlets, registers, a catalog with stock and demo logins."

    def handle(self, *args, **options):
        demo = demo_retailer_ensure()
        self.stdout.write(self.style.SUCCESS(f"Demo retailer: {demo.retailer.name}"))
        for username, password in demo.logins.items():
            self.stdout.write(f"  login {username:<13} password {password}")
