"""webcoach.coach"""
