"""webcoach.condenser"""
