"""Sign in (throttled), sign out and password change."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from pos.services.auth import login_throttle_is_locked, login_throttle_record_failure, login_throttle_reset


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


class ThrottledAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": _(
            "Too many failed sign-in attempts. Wait %(minutes)d minutes and try again, or reset your password "
            "with your admin."
        ),
    }

    def clean(self):
        username = self.data.get("username", "")
        ip = client_ip(self.request)
        if login_throttle_is_locked(username=username, ip=ip):
            raise forms.ValidationError(
                self.error_messages["throttled"],
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


class ThrottledLoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"
