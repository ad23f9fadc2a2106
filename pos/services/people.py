"""The people of a retailer: adding staff and admins (invited by email, or given a password), changing their
role, deactivating and reactivating them, and emailing a password link. Every change is audited.

A person is a `User` (one sign-in, shared by every retailer they belong to) with a `Membership` per retailer.
Admins act on the membership of their own retailer only; the user row changes only where it must (a new person,
and `is_active`, which follows whether any membership is still active, so a person deactivated everywhere can
no longer sign in). A retailer always keeps one active admin, and nobody deactivates themselves.

Password emails use Django's own reset machinery (`default_token_generator`, `PasswordResetForm.send_mail`, the
`password_reset_confirm` page): an invitation is a reset email with a welcome, sent to a user whose password is
still unusable.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from pos.choices import AuditAction, Role
from pos.models import AuditEntry, Membership, Retailer, User

USERNAME_REQUIRED = "Enter a username: letters, digits and @ . + - _ only."
USERNAME_TAKEN = "The username “%(username)s” is taken. Choose another."
EMAIL_NEEDED = "Enter an email address to send the invitation to, or set a password now."
NO_EMAIL = "%(name)s has no email address, so no password email can be sent."
LAST_ADMIN = "%(retailer)s must keep at least one active admin. Make someone else an admin first."
NOT_YOURSELF = "You cannot deactivate yourself. Ask another admin."
ROLE_UNKNOWN = "Choose one of: Admin, Staff."
INVITE_TEMPLATES = ("registration/invite_subject.txt", "registration/invite_email.txt")
RESET_TEMPLATES = ("registration/password_reset_subject.txt", "registration/password_reset_email.html")


def _audit(*, membership: Membership, acting_user: User | None, action: str, **detail) -> None:
    AuditEntry.objects.create(
        retailer_id=membership.retailer_id,
        actor=acting_user,
        action=action,
        detail={"user": membership.user_id, "username": membership.user.get_username(), **detail},
    )


def _other_active_admins(membership: Membership) -> bool:
    return (
        Membership.objects.for_retailer(membership.retailer_id)
        .filter(role=Role.ADMIN, active=True)
        .exclude(pk=membership.pk)
        .exists()
    )


def _locked(membership: Membership) -> Membership:
    # Every change of role or state locks the retailer's memberships in id order: two admins demoting each
    # other at the same moment must not both pass the "one admin left" check.
    list(Membership.objects.for_retailer(membership.retailer_id).select_for_update().order_by("pk").values_list("pk"))
    return Membership.objects.select_related("user", "retailer").get(pk=membership.pk)


@transaction.atomic
def person_add(
    *,
    retailer: Retailer,
    username: str,
    email: str,
    role: str,
    acting_user: User,
    first_name: str = "",
    last_name: str = "",
    password: str | None = None,
) -> Membership:
    """A new person at the retailer with `role`. With a password they can sign in at once; without one they get
    an invitation email (after the commit) with a link to choose their password."""
    username = (username or "").strip()
    email = (email or "").strip()
    user = User(username=username, email=email, first_name=first_name.strip(), last_name=last_name.strip())
    errors: dict[str, list[str]] = {}
    try:
        User._meta.get_field("username").run_validators(username)
        if not username:
            raise ValidationError(USERNAME_REQUIRED)
    except ValidationError:
        errors["username"] = [USERNAME_REQUIRED]
    else:
        if User.objects.filter(username__iexact=username).exists():
            errors["username"] = [USERNAME_TAKEN % {"username": username}]
    if email:
        try:
            validate_email(email)
        except ValidationError as error:
            errors["email"] = error.messages
    elif not password:
        errors["email"] = [EMAIL_NEEDED]
    if password:
        try:
            validate_password(password, user)
        except ValidationError as error:
            errors["password"] = error.messages
    if role not in Role.values:
        errors["role"] = [ROLE_UNKNOWN]
    if errors:
        raise ValidationError(errors)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    membership = Membership.objects.create(user=user, retailer=retailer, role=role)
    _audit(
        membership=membership,
        acting_user=acting_user,
        action=AuditAction.PERSON_ADDED,
        role=role,
        invited=not password,
    )
    if not password:
        transaction.on_commit(partial(_send_password_email, membership.pk, acting_user.pk, invite=True))
    return membership


@transaction.atomic
def person_role_set(*, membership: Membership, role: str, acting_user: User) -> bool:
    """Make a person an admin or staff at this retailer. The last active admin stays an admin."""
    if role not in Role.values:
        raise ValidationError({"role": ROLE_UNKNOWN})
    membership = _locked(membership)
    if membership.role == role:
        return False
    if membership.role == Role.ADMIN and membership.active and not _other_active_admins(membership):
        raise ValidationError({"role": LAST_ADMIN % {"retailer": membership.retailer.name}})
    old, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    _audit(membership=membership, acting_user=acting_user, action=AuditAction.PERSON_ROLE_CHANGED, changed=[old, role])
    return True


@transaction.atomic
def person_active_set(*, membership: Membership, active: bool, acting_user: User) -> bool:
    """Deactivate a person at this retailer (they keep their history, and can no longer act for it) or bring
    them back. Their sign-in is disabled once no retailer has them active, and enabled again when one does."""
    membership = _locked(membership)
    if membership.active == active:
        return False
    user = membership.user
    if not active:
        if user.pk == acting_user.pk:
            raise ValidationError({"active": NOT_YOURSELF})
        if membership.role == Role.ADMIN and not _other_active_admins(membership):
            raise ValidationError({"active": LAST_ADMIN % {"retailer": membership.retailer.name}})
    membership.active = active
    membership.save(update_fields=["active"])
    others = Membership.objects.filter(user=user, active=True).exclude(pk=membership.pk).exists()
    can_sign_in = active or others or user.is_support or user.is_staff
    if user.is_active != can_sign_in:
        user.is_active = can_sign_in
        user.save(update_fields=["is_active"])
    action = AuditAction.PERSON_REACTIVATED if active else AuditAction.PERSON_DEACTIVATED
    _audit(membership=membership, acting_user=acting_user, action=action, sign_in=can_sign_in)
    return True


@transaction.atomic
def person_password_email(*, membership: Membership, acting_user: User) -> None:
    """Email the person a link to choose a new password (an invitation when they never had one)."""
    membership = Membership.objects.select_related("user").get(pk=membership.pk)
    user = membership.user
    if not user.email:
        raise ValidationError(NO_EMAIL % {"name": user.get_full_name() or user.get_username()})
    invite = not user.has_usable_password()
    _audit(membership=membership, acting_user=acting_user, action=AuditAction.PASSWORD_EMAIL_SENT, invite=invite)
    transaction.on_commit(partial(_send_password_email, membership.pk, acting_user.pk, invite=invite))


def _send_password_email(membership_id: int, acting_user_id: int, *, invite: bool) -> None:
    """Send the email, through Django's password-reset sender, with a link to this site's public address."""
    membership = Membership.objects.select_related("user", "retailer").get(pk=membership_id)
    user = membership.user
    base = urlsplit(settings.PUBLIC_BASE_URL)
    context = {
        "email": user.email,
        "domain": base.netloc,
        "site_name": membership.retailer.name,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "user": user,
        "token": default_token_generator.make_token(user),
        "protocol": base.scheme or "https",
        "retailer": membership.retailer,
        "role": membership.get_role_display(),
        "invited_by": User.objects.filter(pk=acting_user_id).first(),
    }
    subject, body = INVITE_TEMPLATES if invite else RESET_TEMPLATES
    PasswordResetForm().send_mail(subject, body, context, None, user.email)
