"""Sign in (throttled), sign out, password change, and password reset by email (Django's own views, with our
templates; reset requests are throttled like failed sign-ins)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from dashboard.forms import BootstrapPasswordChangeForm, BootstrapPasswordResetForm, BootstrapSetPasswordForm
from pos.services.auth import login_throttle_is_locked, login_throttle_record_failure, login_throttle_reset


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXIES proxies the address the outermost one saw.

    Only the entries our own proxies appended are trusted (counted from the right); anything to their left came
    from the client and could be made up to dodge the per-address throttle."""
    proxies = settings.TRUSTED_PROXIES
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


class LoginThrottleMixin:
    """Refuses a sign-in while the username or the address is locked out, and counts every failure.

    Used by both sign-in forms, ours and the Django admin's: a throttle the admin's form skipped would leave a way
    to guess platform staff passwords at full speed."""

    throttle_error_messages = {
        "throttled": _(
            "Too many failed sign-in attempts. Wait %(minutes)d minutes and try again, or use “Forgot your "
            "password?” below to choose a new one."
        ),
    }

    def clean(self):
        # The raw text: the throttle counts it as the account Django will sign in (see pos.services.auth).
        username = self.data.get("username", "")
        ip = client_ip(self.request)
        if login_throttle_is_locked(username=username, ip=ip):
            raise forms.ValidationError(
                self.throttle_error_messages["throttled"],
                code="throttled",
                params={"minutes": max(1, settings.LOGIN_THROTTLE_WINDOW_SECONDS // 60)},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            login_throttle_record_failure(username=username, ip=ip)
            raise
        login_throttle_reset(username=username, ip=ip)
        return cleaned


class ThrottledAuthenticationForm(LoginThrottleMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(LoginThrottleMixin, AdminAuthenticationForm):
    pass


class ThrottledLoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"
    form_class = BootstrapPasswordChangeForm


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"


class ThrottledPasswordResetForm(BootstrapPasswordResetForm):
    """Every request counts against the address and the email like a failed sign-in: the form cannot be used to
    flood someone's inbox or to probe addresses at speed. It never says whether the address has an account."""

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean(self):
        cleaned = super().clean()
        key, ip = f"password-reset:{cleaned.get('email', '')}", client_ip(self.request)
        if login_throttle_is_locked(username=key, ip=ip):
            raise forms.ValidationError(
                _("Too many password reset requests. Wait %(minutes)d minutes and try again."),
                code="throttled",
                params={"minutes": max(1, settings.LOGIN_THROTTLE_WINDOW_SECONDS // 60)},
            )
        login_throttle_record_failure(username=key, ip=ip)
        return cleaned


class PasswordResetView(auth_views.PasswordResetView):
    form_class = ThrottledPasswordResetForm
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.html"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = BootstrapSetPasswordForm
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"
