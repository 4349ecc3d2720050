"""Portal accounts: register, log in and out, password reset (DESIGN §7 fixed points).

Routes stay thin: the rules live in app.customer_accounts.
"""

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired

from app.auth import begin_session, login_rate_limited, safe_next
from app.customer_accounts import (
    CustomerPrincipal,
    authenticate_customer,
    customer_for_reset_token,
    register_customer_login,
    request_password_reset,
    reset_password,
)
from app.errors import DomainError
from app.extensions import db
from app.portal import form_error, is_customer, portal

RESET_REQUESTED_MESSAGE = (
    "If that e-mail address belongs to a registered account, we have sent a link to reset "
    "the password. The link works for one hour."
)


class RegisterForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired()])
    account_number = StringField("Account number", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    password_confirm = PasswordField("Confirm password", validators=[DataRequired()])


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class ForgotPasswordForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired()])


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired()])
    password_confirm = PasswordField("Confirm new password", validators=[DataRequired()])


@portal.route("/register", methods=["GET", "POST"])
def register():
    """An existing customer chooses a portal password (e-mail + account number must match)."""
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            register_customer_login(
                form.email.data,
                form.account_number.data,
                form.password.data,
                form.password_confirm.data,
            )
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
            return render_template("portal/register.html", form=form), 400
        db.session.commit()
        flash("Your account is ready. Please log in.", "success")
        return redirect(url_for("portal.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("portal/register.html", form=form), status


@portal.route("/login", methods=["GET", "POST"])
@login_rate_limited("customer-login-email")
def login():
    """Customers log in with e-mail and password."""
    form = LoginForm()
    if form.validate_on_submit():
        customer = authenticate_customer(form.email.data, form.password.data)
        if customer is not None:
            begin_session(CustomerPrincipal(customer), "customer_login_at")
            return redirect(safe_next(request.args.get("next"), url_for("portal.dashboard")))
        flash("Wrong e-mail or password.", "error")
        return render_template("portal/login.html", form=form), 401
    status = 400 if request.method == "POST" else 200
    return render_template("portal/login.html", form=form), status


@portal.route("/logout", methods=["POST"])
def logout():
    """End the customer session."""
    if is_customer():
        logout_user()
        session.clear()
        flash("You have been logged out.", "info")
    return redirect(url_for("portal.login"))


@portal.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    """Ask for a reset link; the answer never says whether the address is known."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        request_password_reset(form.email.data)
        db.session.commit()
        flash(RESET_REQUESTED_MESSAGE, "info")
        return redirect(url_for("portal.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("portal/forgot_password.html", form=form), status


@portal.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password_page(token: str):
    """Choose a new password from an e-mailed link (one hour, once)."""
    if customer_for_reset_token(token) is None:
        return render_template("portal/reset_password.html", form=None), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            reset_password(token, form.password.data, form.password_confirm.data)
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
            return render_template("portal/reset_password.html", form=form), 400
        db.session.commit()
        logout_user()
        session.clear()
        flash("Your password has been changed. Please log in.", "success")
        return redirect(url_for("portal.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("portal/reset_password.html", form=form), status
