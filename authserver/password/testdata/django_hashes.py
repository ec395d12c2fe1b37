"""Prints, as JSON, the hashes that Django's own hashers make of a password.

Usage: python3 django_hashes.py PASSWORD < names.json
names.json is a JSON list of hasher names: pbkdf2_sha256, pbkdf2_sha1,
argon2, argon2i, bcrypt_sha256, bcrypt, unusable. Each hash is checked with
Django's check_password before it is printed.
"""
import json
import sys

import django
from django.conf import settings

settings.configure(PASSWORD_HASHERS=[
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
])
django.setup()

from django.contrib.auth import hashers  # noqa: E402


class Argon2iHasher(hashers.Argon2PasswordHasher):
    """Django before 3.2 hashed with argon2i; its verify still reads it."""

    def encode(self, password, salt):
        argon2 = self._load_library()
        data = argon2.low_level.hash_secret(
            password.encode(), salt.encode(), time_cost=self.time_cost,
            memory_cost=self.memory_cost, parallelism=self.parallelism,
            hash_len=argon2.DEFAULT_HASH_LENGTH, type=argon2.low_level.Type.I)
        return self.algorithm + data.decode("ascii")


password = sys.argv[1]
out = {}
for name in json.load(sys.stdin):
    if name == "unusable":
        encoded = hashers.make_password(None)
    elif name == "argon2i":
        encoded = hashers.make_password(password, hasher=Argon2iHasher())
    else:
        encoded = hashers.make_password(password, hasher=name)
    if name != "unusable" and not hashers.check_password(password, encoded):
        sys.exit("django does not verify its own %s hash" % name)
    out[name] = encoded
json.dump(out, sys.stdout)
