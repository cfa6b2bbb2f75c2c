"""Localization: GNSS/NMEA core, geodesy (the one map <-> WGS-84 module), EKF."""
