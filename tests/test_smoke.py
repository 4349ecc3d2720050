"""The app builds, serves its login page, and keeps anonymous users out of the console."""


def test_login_page_renders_with_csrf_meta_tag(client):
    response = client.get("/admin/login")
    assert response.status_code == 200
    assert b'<meta name="csrf-token"' in response.data
    assert b'name="email"' in response.data and b'name="password"' in response.data


def test_anonymous_console_visit_redirects_to_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]


def test_admin_logs_in_and_sees_console(client, auth):
    user = auth.login("admin")
    response = client.get("/admin/")
    assert response.status_code == 200
    assert user.name.encode() in response.data
